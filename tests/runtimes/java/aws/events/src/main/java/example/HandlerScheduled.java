package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.ScheduledEvent;
import java.util.LinkedHashMap;
import java.util.Map;

// As sample-apps/java-events/src/main/java/example/HandlerCWEvents.java: an EventBridge
// (CloudWatch Events) ScheduledEvent in; here what it carried out.
// Handler value: example.HandlerScheduled
public class HandlerScheduled implements RequestHandler<ScheduledEvent, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(ScheduledEvent event, Context context) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("detailType", event.getDetailType());
        out.put("source", event.getSource());
        out.put("account", event.getAccount());
        out.put("resources", event.getResources());
        out.put("timeMillis", event.getTime().getMillis());
        out.put("year", event.getTime().getYear());
        out.put("detail", event.getDetail());
        return out;
    }
}
