// Package lib has one function of each shape the variant builder handles.
package lib

import "strings"

// Greet has a result and a closure.
func Greet(name string) string {
	up := func(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
	return "hello " + up(name)
}

// Sum is variadic.
func Sum(xs ...int) (total int) {
	for _, x := range xs {
		total += x
	}
	return total
}

// Max is generic.
func Max[T int | float64](a, b T) T {
	if a > b {
		return a
	}
	return b
}

// Ignore has a blank and an unnamed-style parameter list.
func Ignore(_ int, _ string) string { return "ignored" }

// Counter has a method without result.
type Counter struct{ N int }

// Add adds.
func (c *Counter) Add(n int) {
	c.N += n
}

// Twice says the word twice: the same text appears once only.
func Twice() string { return "twice" }
