module github.com/bonsai-dl/bonsai

go 1.26
