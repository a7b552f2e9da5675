package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

// As sample-apps/java-basic's HandlerString: a String in; here its upper case out, so the
// test sees that a String result is sent as a JSON string, as Lambda sends it.
// Handler value: example.HandlerString
public class HandlerString implements RequestHandler<String, String> {
    @Override
    public String handleRequest(String event, Context context) {
        return event.toUpperCase();
    }
}
