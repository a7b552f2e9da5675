// A Go function on aws-lambda-go, unmodified: the provided runtime's tests build it as the
// bootstrap and call it through wisp's contract. The event's "op" picks a behaviour.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Op    string         `json:"op"`
	Ms    int            `json:"ms"`
	Data  map[string]any `json:"data"`
	Code  int            `json:"code"`
	Value string         `json:"value"`
}

type notFound struct{ what string }

// failingReader is a raw response that breaks after its first bytes: aws-lambda-go then reports
// the error in the trailers of its chunked /response request.
type failingReader struct{ done bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		return copy(p, "partial"), nil
	}
	return 0, errors.New("stream broke")
}

func (e notFound) Error() string { return e.what + " was not found" }

func handler(ctx context.Context, ev event) (any, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	switch ev.Op {
	case "echo":
		return ev.Data, nil
	case "context":
		out := map[string]any{
			"requestId":    lc.AwsRequestID,
			"functionArn":  lc.InvokedFunctionArn,
			"deadlineMs":   deadline.UnixMilli(),
			"functionName": lambdacontext.FunctionName,
			"memory":       lambdacontext.MemoryLimitInMB,
			"handler":      os.Getenv("_HANDLER"),
			"taskRoot":     os.Getenv("LAMBDA_TASK_ROOT"),
			"runtimeApi":   os.Getenv("AWS_LAMBDA_RUNTIME_API"),
			"traceId":      os.Getenv("_X_AMZN_TRACE_ID"),
			"pid":          os.Getpid(),
		}
		if lc.ClientContext.Custom != nil {
			out["custom"] = lc.ClientContext.Custom
		}
		if lc.Identity.CognitoIdentityID != "" {
			out["identityId"] = lc.Identity.CognitoIdentityID
		}
		return out, nil
	case "fail":
		return nil, notFound{ev.Value}
	case "error":
		return nil, errors.New(ev.Value)
	case "sleep":
		select {
		case <-time.After(time.Duration(ev.Ms) * time.Millisecond):
			return map[string]any{"slept": ev.Ms, "pid": os.Getpid()}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "block":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond) // ignores the deadline
		return map[string]any{"slept": ev.Ms}, nil
	case "exit":
		os.Exit(ev.Code)
	case "reader-fail":
		return &failingReader{}, nil
	case "http":
		return map[string]any{"statusCode": 201, "headers": map[string]string{"X-From": "go"}, "body": ev.Value}, nil
	}
	return map[string]any{"pid": os.Getpid()}, nil
}

func main() { lambda.Start(handler) }
