package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.SQSEvent;

// Not from a sample: returns the SQSEvent it was given, so the test sees the JSON names an
// events class is written with (AWS's: "Records", "eventSourceARN").
// Handler value: example.HandlerSQSEcho
public class HandlerSQSEcho implements RequestHandler<SQSEvent, SQSEvent> {
    @Override
    public SQSEvent handleRequest(SQSEvent event, Context context) {
        return event;
    }
}
