package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.util.Map;

// Not from a sample: LambdaLogger.log with levels (aws-lambda-java-core 1.2.3+), and
// LambdaRuntime.getLogger(), the logger outside a handler's context.
// Handler value: example.HandlerLevels
public class HandlerLevels implements RequestHandler<Map<String, Object>, String> {
    @Override
    public String handleRequest(Map<String, Object> event, Context context) {
        LambdaLogger logger = context.getLogger();
        logger.log("a warning", LogLevel.WARN);
        logger.log("an error", LogLevel.ERROR);
        logger.log("some detail", LogLevel.DEBUG);
        LambdaRuntime.getLogger().log("from LambdaRuntime");
        return "logged";
    }
}
