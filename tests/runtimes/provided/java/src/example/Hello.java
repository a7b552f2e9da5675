// A handler run by aws-lambda-java-runtime-interface-client (Maven Central), unmodified.
package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.HashMap;
import java.util.Map;

public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        if ("fail".equals(event.get("op"))) {
            throw new IllegalStateException("java says no");
        }
        Map<String, Object> out = new HashMap<>();
        out.put("event", event);
        out.put("requestId", context.getAwsRequestId());
        out.put("arn", context.getInvokedFunctionArn());
        out.put("remainingMs", context.getRemainingTimeInMillis());
        return out;
    }
}
