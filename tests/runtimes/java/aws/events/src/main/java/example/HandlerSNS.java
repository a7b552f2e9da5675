package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.SNSEvent;

// Follows sample-apps/java-events/src/main/java/example/HandlerSNS.java: an SNSEvent in (its
// JSON is PascalCase: Records[].Sns.Message); here the message, subject and time out.
// Handler value: example.HandlerSNS
public class HandlerSNS implements RequestHandler<SNSEvent, String> {
    @Override
    public String handleRequest(SNSEvent event, Context context) {
        SNSEvent.SNS sns = event.getRecords().get(0).getSNS();
        return sns.getType() + " " + sns.getSubject() + ": " + sns.getMessage() + " at " + sns.getTimestamp().getMillis()
                + " " + sns.getMessageAttributes().get("Test").getValue();
    }
}
