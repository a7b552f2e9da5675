package dev.wisp.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The contract's pure rules: events, result shaping, strict JSON, settings. */
class ContractRulesTest {

    private static JsonObject httpEvent(String method, String path, String query,
                                        Map<String, List<String>> headers, byte[] body) throws Exception {
        Call call = new Call(method, path, query, headers, limit -> body, "r", "127.0.0.1", "HTTP/1.1");
        return HttpEvents.build(call, body, "default", 0);
    }

    @Test
    void textualContentTypesStayTextOthersAreBase64() throws Exception {
        Map<String, List<String>> headers = Map.of("Content-Type", List.of("application/json; charset=utf-8"));
        JsonObject text = httpEvent("POST", "/a", null, headers, "{\"x\":1}".getBytes(StandardCharsets.UTF_8));
        assertEquals("{\"x\":1}", text.get("body").getAsString());
        assertFalse(text.get("isBase64Encoded").getAsBoolean());

        JsonObject binary = httpEvent("POST", "/a", null,
                Map.of("content-type", List.of("image/png")), new byte[] {1, 2, 3});
        assertEquals("AQID", binary.get("body").getAsString());
        assertTrue(binary.get("isBase64Encoded").getAsBoolean());
    }

    @Test
    void queryParametersKeepTheLastAndAllValues() throws Exception {
        JsonObject event = httpEvent("GET", "/q", "a=1&a=2&b=x%20y&flag", Map.of(), new byte[0]);
        assertEquals("{\"a\":\"2\",\"b\":\"x y\",\"flag\":\"\"}", event.get("queryStringParameters").toString());
        assertEquals("[\"1\",\"2\"]", event.getAsJsonObject("multiValueQueryStringParameters").get("a").toString());
        assertTrue(event.get("body").isJsonNull());
    }

    @Test
    void aStatusCodeShapesTheResponse() throws Exception {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("statusCode", 201);
        result.put("headers", Map.of("x-a", 1));
        result.put("body", "aGk=");
        result.put("isBase64Encoded", true);

        Reply reply = Reply.fromResult(result);

        assertEquals(201, reply.status());
        assertEquals(List.of("1"), reply.headers().get("x-a"));
        assertArrayEquals("hi".getBytes(StandardCharsets.UTF_8), reply.body());
    }

    @Test
    void anythingElseIsJson() throws Exception {
        Reply reply = Reply.fromResult(Map.of("statusCode", "not a number"));

        assertEquals(200, reply.status());
        assertEquals("{\"statusCode\":\"not a number\"}", new String(reply.body(), StandardCharsets.UTF_8));
        assertEquals("null", new String(Reply.fromResult(null).body(), StandardCharsets.UTF_8));
    }

    @Test
    void anImpossibleStatusIsAnInvalidResult() {
        assertThrows(Reply.InvalidResultException.class, () -> Reply.fromResult(Map.of("statusCode", 42)));
    }

    @Test
    void eventsAreParsedStrictly() throws Exception {
        assertEquals("{}", Json.parse("  ").toString());
        assertThrows(IOException.class, () -> Json.parse("{nope"));
        assertThrows(IOException.class, () -> Json.parse("{} trailing"));
        assertThrows(IOException.class, () -> Json.parse("unquoted"));
    }

    @Test
    void settingsComeFromTheEnvironment() {
        Config config = Config.fromEnvironment(Map.of("WISP_HANDLER", "a.B", "WISP_TIMEOUT_SECONDS", "1.5",
                "WISP_CONCURRENCY", "3"));
        assertEquals(1500, config.timeoutMillis());
        assertEquals(3, config.concurrency());
        assertEquals(8080, config.port());
        assertThrows(IllegalArgumentException.class,
                () -> Config.fromEnvironment(Map.of("WISP_CONCURRENCY", "many")));
    }

    @Test
    void aPublishedVersionsContextNamesItAsLambdasDoes() {
        Map<String, String> published = Map.of("WISP_FUNCTION_NAME", "orders", "WISP_FUNCTION_VERSION", "3",
                "WISP_REGION", "eu-west-1", "WISP_ACCOUNT_ID", "shop", "HOSTNAME", "orders-v3-pod");
        Context context = new InvocationContext("r", Config.fromEnvironment(published), 0);
        assertEquals("3", context.getFunctionVersion());
        assertEquals("arn:aws:lambda:eu-west-1:shop:function:orders:3", context.getInvokedFunctionArn());
        assertTrue(context.getLogStreamName().matches("\\d{4}/\\d{2}/\\d{2}/\\[3]orders-v3-pod"),
                context.getLogStreamName());

        Map<String, String> own = new LinkedHashMap<>(published);
        own.remove("WISP_FUNCTION_VERSION");
        Context latest = new InvocationContext("r", Config.fromEnvironment(own), 0);
        assertEquals("$LATEST", latest.getFunctionVersion());
        assertEquals("arn:aws:lambda:eu-west-1:shop:function:orders", latest.getInvokedFunctionArn());
        assertTrue(latest.getLogStreamName().matches("\\d{4}/\\d{2}/\\d{2}/\\[\\$LATEST]orders-v3-pod"),
                latest.getLogStreamName());
    }
}
