package events

import "fmt"

// ReferenceDecode is referenceDecode (reference_test.go), for the external tests.
func ReferenceDecode(data []byte, v any) error {
	if err := referenceDecode(data, v); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	return nil
}
