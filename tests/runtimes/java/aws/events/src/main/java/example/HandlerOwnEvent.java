package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.SQSEvent;

// Not from a sample: a function's own event class extending an events class binds as it does.
// Handler value: example.HandlerOwnEvent
public class HandlerOwnEvent implements RequestHandler<HandlerOwnEvent.TenantSQSEvent, String> {
    public static class TenantSQSEvent extends SQSEvent {
        private String tenant;

        public String getTenant() {
            return tenant;
        }
    }

    @Override
    public String handleRequest(TenantSQSEvent event, Context context) {
        return event.getTenant() + ": " + event.getRecords().get(0).getBody();
    }
}
