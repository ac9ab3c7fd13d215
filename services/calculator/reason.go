package calculator

import "errors"

// An attempt's error is logged in full; its record gets only a sentence saying which step
// failed, because the record's error is shown to every client (GET, metadata, the list, the
// event stream) and travels in factorial.failed: a store's or a driver's error names paths,
// hosts, buckets and SQL that are no one's business outside the service.
type stepError struct {
	public string // what the record says
	err    error  // what the log says
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// failedAt marks err as the failure of the step that public names.
func failedAt(public string, err error) error { return &stepError{public: public, err: err} }

const (
	stepCompute = "computing the digits failed"
	stepStore   = "storing the digits failed"
	stepVerify  = "the stored digits could not be read back and checked"
	stepRecord  = "recording the result failed"
)

// badDigits is the failure of the check of the digits themselves (textCheck): its message
// holds only numbers, and says what was wrong.
func badDigits(err error) error {
	return failedAt("the digits did not verify: "+err.Error(), err)
}

// publicReason is what a record may say about err.
func publicReason(err error) string {
	var s *stepError
	if errors.As(err, &s) {
		return s.public
	}
	return "the attempt failed"
}
