// Command prog prints what the functions of lib return, for the tests of
// package variant.
package main

import (
	"fmt"

	"example.com/prog/lib"
)

func main() {
	var c lib.Counter
	c.Add(2)
	fmt.Println(lib.Greet("world"), lib.Sum(1, 2, 3), lib.Max(3, 7), lib.Ignore(1, "x"), c.N, lib.Twice())
}
