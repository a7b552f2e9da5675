package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

// As sample-apps/java-basic's HandlerInteger: an Integer in, an Integer out.
// Handler value: example.HandlerInteger
public class HandlerInteger implements RequestHandler<Integer, Integer> {
    @Override
    public Integer handleRequest(Integer event, Context context) {
        context.getLogger().log("EVENT TYPE: " + event.getClass());
        return event * 2;
    }
}
