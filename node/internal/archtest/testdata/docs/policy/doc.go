// Package rules is misnamed and promises nothing.
package policy
