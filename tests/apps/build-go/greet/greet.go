// Package greet is a module of the app's own, beside the function's folder: the test makes
// the function depend on it (a `require` and a local `replace` in hello/go.mod) and then
// changes only it, a dependency change with no module proxy.
package greet

// Suffix ends every answer.
const Suffix = " (greet v1)"
