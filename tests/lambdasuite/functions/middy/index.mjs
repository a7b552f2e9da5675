import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import httpJsonBodyParser from "@middy/http-json-body-parser";
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";

const logger = new Logger({ serviceName: "greeter" });

const greet = async (event, context) => {
  const { name } = event.body;
  if (!name) {
    const error = new Error("name is required");
    error.statusCode = 422;
    throw error;
  }
  logger.info("greeting", { name });
  return {
    statusCode: 200,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ greeting: `hello, ${name}`, requestId: context.awsRequestId }),
  };
};

export const handler = middy(greet)
  .use(injectLambdaContext(logger))
  .use(httpJsonBodyParser())
  .use(httpErrorHandler());
