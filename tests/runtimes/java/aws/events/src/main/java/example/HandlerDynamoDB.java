package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.DynamodbEvent;
import com.amazonaws.services.lambda.runtime.events.DynamodbEvent.DynamodbStreamRecord;
import com.amazonaws.services.lambda.runtime.events.models.dynamodb.AttributeValue;

// Follows sample-apps/java-events/src/main/java/example/HandlerDynamoDB.java: a DynamoDB stream
// event in (PascalCase keys, attribute values typed "S", "N", "NULL", ...), its records read.
// Handler value: example.HandlerDynamoDB
public class HandlerDynamoDB implements RequestHandler<DynamodbEvent, String> {
    @Override
    public String handleRequest(DynamodbEvent event, Context context) {
        StringBuilder out = new StringBuilder();
        for (DynamodbStreamRecord record : event.getRecords()) {
            AttributeValue message = record.getDynamodb().getNewImage().get("Message");
            AttributeValue gone = record.getDynamodb().getNewImage().get("Gone");
            out.append(record.getEventName()).append(" ")
                    .append(record.getDynamodb().getKeys().get("Id").getN()).append(" ")
                    .append(message.getS()).append(" null=").append(gone.getNULL()).append(" ")
                    .append(record.getDynamodb().getApproximateCreationDateTime().getTime()).append(" ")
                    .append(record.getEventSourceARN());
        }
        return out.toString();
    }
}
