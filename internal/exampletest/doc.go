// Package exampletest holds the end-to-end checks shared by the example programs' tests.
package exampletest
