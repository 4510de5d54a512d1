package rayexec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Metadata keys tandem sets on every submission. Ray keeps a job's
// metadata as long as the job, so a restarted region (which has only the
// handle) learns the attempt and its timeout back from the cluster.
const (
	metaAttempt = "tandem_attempt" // LaunchSpec.ID, unsanitised
	metaTimeout = "tandem_timeout" // LaunchSpec.Timeout as a Go duration
)

// maxIDLen bounds a submission id: Ray names files and actors after it.
const maxIDLen = 96

// SubmissionID is the Ray submission id (the handle) of an attempt: the
// attempt's ID with every byte outside [A-Za-z0-9._-] replaced by '_'
// (Ray puts the id in URL paths, file and actor names). When that changed
// the ID, or it is too long, a short hash of the original ID is added so
// that two IDs never share a submission id. The same ID always gives the
// same submission id.
func SubmissionID(id string) string {
	var b strings.Builder
	changed := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
			changed = true
		}
	}
	s := b.String()
	if !changed && len(s) <= maxIDLen {
		return s
	}
	sum := sha256.Sum256([]byte(id))
	if len(s) > maxIDLen-13 {
		s = s[:maxIDLen-13]
	}
	return s + "-" + hex.EncodeToString(sum[:6])
}

// jobInfo is the part of Ray's job details (GET /api/jobs/{id}) tandem
// reads. Times are Unix milliseconds of the cluster's clock;
// DriverExitCode is reported by recent Ray releases (2.52 and 2.60 do)
// once the entrypoint exits; without it the exit code is read from Ray's
// message.
type jobInfo struct {
	SubmissionID   string            `json:"submission_id"`
	Status         string            `json:"status"`
	Entrypoint     string            `json:"entrypoint"`
	Message        *string           `json:"message"`
	ErrorType      *string           `json:"error_type"`
	StartTime      *int64            `json:"start_time"`
	EndTime        *int64            `json:"end_time"`
	Metadata       map[string]string `json:"metadata"`
	DriverExitCode *int              `json:"driver_exit_code"`
	DriverNodeID   string            `json:"driver_node_id"`

	// Date is the cluster's clock when it answered (second resolution,
	// rounded down); zero when unknown.
	Date time.Time `json:"-"`
}

func (j *jobInfo) setDate(t time.Time) { j.Date = t }

// timeout is the attempt's limit recorded at submission, 0 for none.
func (j jobInfo) timeout() time.Duration {
	d, err := time.ParseDuration(j.Metadata[metaTimeout])
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// observation is what Status makes of one look at a Ray job.
type observation struct {
	Status tandem.ProcessStatus
	// Expire asks the caller to stop the job on the cluster: it ran past
	// its timeout. Status already reports it failed.
	Expire bool
}

// exitCodeInMessage finds the exit code in the message Ray writes for a
// failed entrypoint, for Ray versions without driver_exit_code.
var exitCodeInMessage = regexp.MustCompile(`failed with exit code (-?\d+)`)

// observe maps one Ray job (its status, times, metadata) at time now to the
// attempt's state. It is pure: Status does the I/O around it.
//
// The timeout counts from the submission (Ray's start_time), so it includes
// the setup of the runtime environment on the cluster. A running job past
// its timeout is reported failed and Expire is set; once stopped, Ray
// reports it STOPPED, which is still reported failed (timed out) when it
// ended at or after its deadline, so the answer does not change on a later
// look or after a restart of the region.
func observe(j jobInfo, now time.Time) (observation, error) {
	limit := j.timeout()
	var start, end time.Time
	if j.StartTime != nil {
		start = time.UnixMilli(*j.StartTime)
	}
	if j.EndTime != nil {
		end = time.UnixMilli(*j.EndTime)
	}
	timedOut := func(at time.Time) bool {
		return limit > 0 && !start.IsZero() && !at.Before(start.Add(limit))
	}
	timeoutStatus := tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: -1,
		Message: fmt.Sprintf("timed out after %s (limits.timeout); stopped on the Ray cluster", limit)}
	switch j.Status {
	case "PENDING", "RUNNING":
		if timedOut(now) {
			return observation{Status: timeoutStatus, Expire: true}, nil
		}
		state := tandem.ProcessPending
		if j.Status == "RUNNING" {
			state = tandem.ProcessRunning
		}
		return observation{Status: tandem.ProcessStatus{State: state}}, nil
	case "SUCCEEDED":
		code := 0
		if j.DriverExitCode != nil {
			code = *j.DriverExitCode
		}
		return observation{Status: tandem.ProcessStatus{State: tandem.ProcessSucceeded, ExitCode: code}}, nil
	case "FAILED":
		code := -1
		msg := j.message()
		if j.DriverExitCode != nil {
			code = *j.DriverExitCode
		} else if m := exitCodeInMessage.FindStringSubmatch(msg); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				code = n
			}
		}
		return observation{Status: tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: code, Message: msg}}, nil
	case "STOPPED":
		if !end.IsZero() && timedOut(end) {
			return observation{Status: timeoutStatus}, nil
		}
		return observation{Status: tandem.ProcessStatus{State: tandem.ProcessStopped, ExitCode: -1, Message: j.message()}}, nil
	}
	return observation{}, tandem.Errorf(tandem.EINTERNAL, "ray: job %s has a status tandem does not know: %q", j.SubmissionID, j.Status)
}

// maxMessage bounds the message carried from Ray into an attempt.
const maxMessage = 1000

// message is Ray's message on the job, shortened: Ray appends the last
// 20,000 characters of the log to a failure's message, and the log is
// served by Logs already. It keeps the first line (without the colon that
// introduces the log), then, for a message that is not about the log (a
// runtime environment that could not be built, with a traceback), its last
// error line, and the error type.
func (j jobInfo) message() string {
	if j.Message == nil {
		return ""
	}
	first, rest, _ := strings.Cut(*j.Message, "\n")
	msg := strings.TrimSpace(first)
	if i := strings.Index(msg, ", last available logs"); i >= 0 {
		msg = msg[:i]
	} else if last := lastErrorLine(rest); last != "" {
		msg += "; " + last
	}
	msg = strings.TrimSuffix(msg, ":")
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	if j.ErrorType != nil && *j.ErrorType != "" {
		msg += " (" + *j.ErrorType + ")"
	}
	return msg
}

// lastErrorLine is the last line of text that reads like an error: pip's
// "ERROR: ...", or a Python exception.
func lastErrorLine(text string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "ERROR: ") || pythonError.MatchString(l) {
			return l
		}
	}
	return ""
}

// pythonError matches the last line of a Python traceback
// ("ValueError: Job with submission_id x already exists.").
var pythonError = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): .+`)

// agentStatus finds the status the head's job agent answered with, which
// the head wraps in a 500 ("Request failed with status code 400: ...").
var agentStatus = regexp.MustCompile(`Request failed with status code (\d{3})`)

// rayError reads an error body of the job API: either a plain message
// ("Job x does not exist") or a Python traceback, possibly the agent's
// traceback inside the head's. It returns the message a user should see
// (the innermost exception's line) and the HTTP status that applies, the
// agent's when the head only relayed it.
func rayError(status int, body string) (int, string) {
	if m := agentStatus.FindStringSubmatch(body); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && status == 500 {
			status = n
		}
	}
	lines := strings.Split(body, "\n")
	msg := ""
	if strings.Contains(body, "Traceback (most recent call last)") {
		for i := len(lines) - 1; i >= 0; i-- {
			l := strings.TrimSpace(lines[i])
			if pythonError.MatchString(l) && !strings.HasPrefix(l, "RuntimeError: Request failed with status code") {
				msg = l
				break
			}
		}
	}
	if msg == "" {
		for _, l := range lines {
			if l = strings.TrimSpace(l); l != "" {
				msg = l
				break
			}
		}
	}
	msg = strings.TrimSuffix(msg, ".")
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	return status, msg
}

// redact replaces the values of env in msg: Ray may echo a request back in
// an error, and Env carries the attempt's token.
func redact(msg string, env map[string]string) string {
	for _, v := range env {
		if len(v) >= 6 {
			msg = strings.ReplaceAll(msg, v, "***")
		}
	}
	return msg
}
