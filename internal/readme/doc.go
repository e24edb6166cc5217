// Package readme holds the test that keeps README.md honest: every ```go
// block in it compiles and passes go vet, and every whole program in it
// runs. See readme_test.go for how a fragment is wrapped.
package readme
