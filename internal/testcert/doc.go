// Package testcert makes self-signed TLS certificates for tests.
package testcert
