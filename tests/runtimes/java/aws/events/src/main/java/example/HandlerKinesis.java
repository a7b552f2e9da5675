package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.KinesisEvent;
import com.amazonaws.services.lambda.runtime.events.KinesisEvent.KinesisEventRecord;
import java.nio.charset.StandardCharsets;

// Follows sample-apps/java-events/src/main/java/example/HandlerKinesis.java: each record's data
// (base64 in the event, a ByteBuffer here) decoded; its arrival time (epoch seconds) too.
// Handler value: example.HandlerKinesis
public class HandlerKinesis implements RequestHandler<KinesisEvent, String> {
    @Override
    public String handleRequest(KinesisEvent event, Context context) {
        StringBuilder out = new StringBuilder();
        for (KinesisEventRecord record : event.getRecords()) {
            out.append(StandardCharsets.UTF_8.decode(record.getKinesis().getData()))
                    .append(" @").append(record.getKinesis().getApproximateArrivalTimestamp().getTime())
                    .append(" ").append(record.getEventSourceARN());
        }
        return out.toString();
    }
}
