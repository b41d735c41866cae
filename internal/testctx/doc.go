// Package testctx holds the Context helpers that the tests of several packages share.
package testctx
