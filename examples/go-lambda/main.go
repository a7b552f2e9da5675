// A Go function written for AWS Lambda with aws-lambda-go, unchanged: the same main.go deploys
// to Lambda's provided.al2023 runtime and to wisp's `runtime: provided`.
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Name string `json:"name"`
}

type response struct {
	Greeting     string `json:"greeting"`
	RequestID    string `json:"requestId"`
	FunctionName string `json:"functionName"`
}

func handler(ctx context.Context, req request) (response, error) {
	name := req.Name
	if name == "" {
		name = "world"
	}
	lc, _ := lambdacontext.FromContext(ctx)
	return response{
		Greeting:     fmt.Sprintf("hello, %s", name),
		RequestID:    lc.AwsRequestID,
		FunctionName: lambdacontext.FunctionName,
	}, nil
}

func main() { lambda.Start(handler) }
