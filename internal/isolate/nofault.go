//go:build !audexfault

package isolate

// withFaults is the identity outside test builds; see fault.go.
func withFaults(fn extractFunc) extractFunc { return fn }
