//go:build !audexfault

package worker

// withFaults is the identity outside test builds; see fault.go.
func withFaults(fn extractFunc) extractFunc { return fn }
