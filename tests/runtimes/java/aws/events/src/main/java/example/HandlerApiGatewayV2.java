package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.APIGatewayV2HTTPEvent;
import com.amazonaws.services.lambda.runtime.events.APIGatewayV2HTTPResponse;
import java.util.List;
import java.util.Map;

// Follows sample-apps/java-events/src/main/java/example/HandlerApiGatewayV2.java: an HTTP API
// (payload 2.0) event in, an APIGatewayV2HTTPResponse out, with a cookie.
// Handler value: example.HandlerApiGatewayV2
public class HandlerApiGatewayV2 implements RequestHandler<APIGatewayV2HTTPEvent, APIGatewayV2HTTPResponse> {
    @Override
    public APIGatewayV2HTTPResponse handleRequest(APIGatewayV2HTTPEvent event, Context context) {
        return APIGatewayV2HTTPResponse.builder()
                .withStatusCode(200)
                .withHeaders(Map.of("Content-Type", "text/plain"))
                .withCookies(List.of("session=abc; Path=/"))
                .withBody(event.getRequestContext().getHttp().getMethod() + " " + event.getRawPath()
                        + " route=" + event.getRouteKey() + " cookies=" + event.getCookies()
                        + " base64=" + event.getIsBase64Encoded())
                .build();
    }
}
