// Command flx wires the fake tree.
package main

import (
	_ "github.com/familylinks/flx/node"
	_ "github.com/familylinks/flx/schema"
)
