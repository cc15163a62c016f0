module github.com/audex/audex

go 1.26.8

require (
	github.com/asticode/go-astiav v0.39.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/asticode/go-astikit v0.42.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
