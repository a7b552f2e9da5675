package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.S3Event;
import com.amazonaws.services.lambda.runtime.events.models.s3.S3EventNotification.S3EventNotificationRecord;

// Follows sample-apps/java-events/src/main/java/example/HandlerS3.java: an S3Event in, the
// bucket and key of its record out (the sample logs them). S3's classes have final fields and
// no constructor without parameters.
// Handler value: example.HandlerS3
public class HandlerS3 implements RequestHandler<S3Event, String> {
    @Override
    public String handleRequest(S3Event event, Context context) {
        S3EventNotificationRecord record = event.getRecords().get(0);
        String srcBucket = record.getS3().getBucket().getName();
        String srcKey = record.getS3().getObject().getUrlDecodedKey();
        return record.getEventName() + " " + srcBucket + "/" + srcKey + " " + record.getS3().getObject().getSizeAsLong()
                + " " + record.getEventTime().getYear() + " " + record.getResponseElements().getxAmzRequestId();
    }
}
