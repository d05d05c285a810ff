// Package variant is a package of the fake tree.
// It must never import an FLX package.
package variant

import _ "go/ast"
