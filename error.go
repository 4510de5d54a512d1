// Package tandem holds the domain of a tandem workspace: its types, their
// validation, the error codes every layer speaks, and the interfaces the
// storage, replication and failover packages implement. It does no I/O.
package tandem

import (
	"errors"
	"fmt"
)

// Error codes. They are tandem's own; the HTTP layers map them to the MLflow
// error names (ErrorCode.MLflowName) and HTTP status codes (ErrorCode.Status).
const (
	EINVALID        = "invalid"         // bad input; nothing changed
	ENOTFOUND       = "not_found"       // the object does not exist
	EEXISTS         = "already_exists"  // an object with that identity exists
	ECONFLICT       = "conflict"        // the change contradicts current state (e.g. immutable param)
	EINVALIDSTATE   = "invalid_state"   // the object is in a state that forbids the change
	ELIMIT          = "limit_exceeded"  // a size or count limit was exceeded
	EUNAVAILABLE    = "unavailable"     // this region cannot serve the request now (not primary, fenced)
	ENOTIMPLEMENTED = "not_implemented" // tandem does not serve this endpoint
	EUNAUTHORIZED   = "unauthorized"    // missing or bad credentials
	EFORBIDDEN      = "forbidden"       // authenticated but not allowed
	EINTERNAL       = "internal"        // a bug or an unexpected failure; details are logged, not shown
)

// Error is the error type every layer returns for failures a caller should
// see. Code is one of the E* constants; Message is safe to show to users.
// Anything that is not an *Error is reported to users as an internal error.
type Error struct {
	Code    string
	Message string
	// Detail carries optional structured data for the API response (for
	// example the primary's URL with EUNAVAILABLE). Never secrets.
	Detail map[string]string
}

// Error is the message alone, so that an *Error printed or wrapped into
// another message reads like one; the code travels in Code (logs that need
// it log it as a field).
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Message
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is (or wraps) an *Error, and
// EINTERNAL otherwise. A nil error has no code.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the message of an
// *Error, or "Internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// MLflowName is the MLflow error_code that the MLflow-compatible API reports
// for a tandem error code.
func MLflowName(code string) string {
	switch code {
	case EINVALID:
		return "INVALID_PARAMETER_VALUE"
	case ENOTFOUND:
		return "RESOURCE_DOES_NOT_EXIST"
	case EEXISTS:
		return "RESOURCE_ALREADY_EXISTS"
	case ECONFLICT:
		return "INVALID_PARAMETER_VALUE"
	case EINVALIDSTATE:
		return "INVALID_STATE"
	case ELIMIT:
		return "RESOURCE_LIMIT_EXCEEDED"
	case EUNAVAILABLE:
		return "TEMPORARILY_UNAVAILABLE"
	case ENOTIMPLEMENTED:
		return "NOT_IMPLEMENTED"
	case EUNAUTHORIZED:
		return "UNAUTHENTICATED"
	case EFORBIDDEN:
		return "PERMISSION_DENIED"
	default:
		return "INTERNAL_ERROR"
	}
}

// HTTPStatus is the HTTP status code an API reports for a tandem error code,
// matching the status MLflow's server uses for the corresponding MLflow name.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID, EEXISTS, ECONFLICT:
		return 400
	case ENOTFOUND:
		return 404
	case ELIMIT:
		return 429
	case EUNAVAILABLE:
		return 503
	case ENOTIMPLEMENTED:
		return 501
	case EUNAUTHORIZED:
		return 401
	case EFORBIDDEN:
		return 403
	default: // EINTERNAL, and EINVALIDSTATE: MLflow answers INVALID_STATE with 500
		return 500
	}
}
