package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.APIGatewayProxyRequestEvent;
import com.amazonaws.services.lambda.runtime.events.APIGatewayProxyResponseEvent;
import java.util.HashMap;

// Follows sample-apps/java-events/src/main/java/example/HandlerApiGateway.java: a REST API proxy
// event in, an APIGatewayProxyResponseEvent out; here the body echoes what the event carried.
// Handler value: example.HandlerApiGateway
public class HandlerApiGateway
        implements RequestHandler<APIGatewayProxyRequestEvent, APIGatewayProxyResponseEvent> {
    @Override
    public APIGatewayProxyResponseEvent handleRequest(APIGatewayProxyRequestEvent event, Context context) {
        APIGatewayProxyResponseEvent response = new APIGatewayProxyResponseEvent();
        response.setIsBase64Encoded(false);
        response.setStatusCode(201);
        HashMap<String, String> headers = new HashMap<String, String>();
        headers.put("Content-Type", "text/plain");
        response.setHeaders(headers);
        String query = event.getQueryStringParameters() == null ? null : event.getQueryStringParameters().get("q");
        response.setBody(event.getHttpMethod() + " " + event.getPath() + " q=" + query
                + " requestId=" + event.getRequestContext().getRequestId()
                + " ip=" + event.getRequestContext().getIdentity().getSourceIp()
                + " id=" + event.getPathParameters().get("id")
                + " body=" + event.getBody());
        return response;
    }
}
