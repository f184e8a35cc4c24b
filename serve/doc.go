// Package serve is an HTTP classification service for a classify.Classifier (net/http
// only), with dynamic batching: concurrent requests are gathered into one forward pass.
//
// # API
//
//	POST /v1/classify   body: an image (Content-Type image/png or image/jpeg; top k from
//	                    the query, ?top=3) or JSON {"image": "<base64 PNG or JPEG>", "top": 3}
//	                    → 200 {"model": "resnet20", "predictions": [{"class": 3, "name": "cat",
//	                    "probability": 0.93}, …]}
//	GET  /healthz       → 200 {"status": "ok"} (503 once shutting down)
//	GET  /metrics       → Prometheus text format: requests by status, histograms of the
//	                    batch size, the forward passes' time and the latency, queue depth
//
// Every error is a JSON object {"error": "…"} with its status: 400 for a malformed image,
// JSON or base64 (or a bad top); 405 for a wrong method; 408 when the body does not
// arrive within Options.ReadTimeout (a stalled or slow upload); 413 for a body over
// Options.MaxBody or an image over Options.MaxPixels, found from the image header before
// any pixel is decoded; 415 for another content type or image format; 503 with
// Retry-After when the queue is full; 500 if the model's output is not finite.
//
// # Batching and admission
//
// A request is admitted before its body is read if fewer than Options.Queue requests are
// in the server (being read, decoded, waiting or computed); otherwise it is refused at
// once with 503, so that memory stays bounded under any load. Admitted requests are
// decoded and preprocessed on their own goroutines, then queued. One batcher takes the
// oldest waiting request and gathers more until it has Options.MaxBatch or Options.MaxWait
// has passed since that request was queued (as Triton's and TorchServe's dynamic batchers
// do), runs them as one batch, and answers each. A request whose client has gone (its
// context is cancelled) while it waits is dropped from its batch.
//
// An image's answer does not depend on the batch it is computed in (see package infer):
// the service answers exactly what classify.Classifier.Classify, and so bonsai predict,
// answers for the same image and model.
//
// # Shutdown
//
// Server.Close is called after http.Server.Shutdown has returned, which answers every
// request already admitted; the batcher keeps running until then.
package serve
