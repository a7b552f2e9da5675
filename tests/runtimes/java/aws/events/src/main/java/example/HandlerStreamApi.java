package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;

// Not from a sample, but the common pattern behind API Gateway: a RequestStreamHandler that
// reads the proxy event itself and writes the proxy response JSON.
// Handler value: example.HandlerStreamApi
public class HandlerStreamApi implements RequestStreamHandler {
    private final Gson gson = new Gson();

    @Override
    public void handleRequest(InputStream input, OutputStream output, Context context) throws IOException {
        JsonObject event = gson.fromJson(new InputStreamReader(input, StandardCharsets.UTF_8), JsonObject.class);
        JsonObject response = new JsonObject();
        response.addProperty("statusCode", 202);
        JsonObject headers = new JsonObject();
        headers.addProperty("Content-Type", "text/plain");
        response.add("headers", headers);
        response.addProperty("body", "accepted " + event.get("httpMethod").getAsString() + " "
                + event.get("path").getAsString() + " for " + context.getAwsRequestId());
        try (Writer writer = new OutputStreamWriter(output, StandardCharsets.UTF_8)) {
            gson.toJson(response, writer);
        }
    }
}
