package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.SQSEvent;
import com.amazonaws.services.lambda.runtime.events.SQSEvent.SQSMessage;

// Follows awsdocs/aws-lambda-developer-guide, sample-apps/java-events/src/main/java/example/HandlerSQS.java
// (an SQSEvent in, Void out, each message body logged), logging through the context's
// LambdaLogger instead of SLF4J.
// Handler value: example.HandlerSQS
public class HandlerSQS implements RequestHandler<SQSEvent, Void> {
    @Override
    public Void handleRequest(SQSEvent event, Context context) {
        for (SQSMessage msg : event.getRecords()) {
            context.getLogger().log(msg.getMessageId() + " " + msg.getEventSourceArn() + " "
                    + msg.getAttributes().get("ApproximateReceiveCount") + " "
                    + msg.getMessageAttributes().get("color").getStringValue() + ": " + msg.getBody());
        }
        return null;
    }
}
