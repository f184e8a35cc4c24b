import json, sys
rows = {}
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d['runtime_'] == 'ort':
        m = d['model'].replace('.onnx', '')
        name, b = m.rsplit('_b', 1)
        key = (name.replace('cifar-', ''), int(b), d['threads'])
        r = rows.setdefault(key, {})
        r['ort_ms'] = d['ms_median']; r['ort_ips'] = d['images_per_second']; r['ort_rss'] = d['peak_rss_bytes'] >> 20
    else:
        name = {'vgg16_bn': 'vgg16'}.get(d['arch'], d['arch'])
        b = d['batch_asked']
        key = (name, b, d['threads'])
        r = rows.setdefault(key, {})
        if b == 1:
            r['b_ms'] = d['latency_ms']; r['b_p90'] = d['latency_p90_ms']
        else:
            r['b_ms'] = d['batch_ms']; r['b_ips'] = d['images_per_second']
        r['b_rss'] = d['peak_rss_bytes'] >> 20
        r['busy'] = d.get('busy', False)
print('| model | batch | threads | ORT | Bonsai | ratio |')
print('|---|---:|---:|---:|---:|---:|')
for (name, b, t), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
    if b == 1:
        print(f"| {name} | 1 | {t} | {r.get('ort_ms',0):.2f} ms | {r.get('b_ms',0):.2f} ms | {r.get('b_ms',0)/max(r.get('ort_ms',1e-9),1e-9):.2f}× latency |")
    else:
        print(f"| {name} | {b} | {t} | {r.get('ort_ips',0):.0f} img/s | {r.get('b_ips',0):.0f} img/s | {r.get('b_ips',0)/max(r.get('ort_ips',1e-9),1e-9):.2f}× throughput |")
