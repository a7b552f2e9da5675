package dev.wisp.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Builds the API-Gateway-proxy-shaped event of an {@code X-Wisp-Event: http} call
 * (docs/runtime-contract.md): lower-cased headers, query parameters (last value and all values),
 * and the body as text when it is UTF-8 of a textual type, else base64.
 */
final class HttpEvents {

    private HttpEvents() {}

    /**
     * @param method the request method
     * @param path the decoded request path
     * @param rawQuery the undecoded query string, or null
     * @param headers the request headers, any case, each with all its values
     * @param body the request body
     * @param requestId the call's id
     */
    static JsonObject build(String method, String path, String rawQuery,
                            Map<String, List<String>> headers, byte[] body, String requestId) {
        JsonObject event = new JsonObject();
        event.addProperty("resource", path);
        event.addProperty("path", path);
        event.addProperty("httpMethod", method);

        JsonObject single = new JsonObject();
        JsonObject multi = new JsonObject();
        String contentType = null;
        for (Map.Entry<String, List<String>> header : headers.entrySet()) {
            String name = header.getKey().toLowerCase(Locale.ROOT);
            List<String> values = header.getValue();
            if (values.isEmpty()) {
                continue;
            }
            single.addProperty(name, values.get(values.size() - 1));
            multi.add(name, strings(values));
            if (name.equals("content-type")) {
                contentType = values.get(values.size() - 1);
            }
        }
        event.add("headers", single);
        event.add("multiValueHeaders", multi);

        Map<String, List<String>> query = parseQuery(rawQuery);
        if (query.isEmpty()) {
            event.add("queryStringParameters", JsonNull.INSTANCE);
            event.add("multiValueQueryStringParameters", JsonNull.INSTANCE);
        } else {
            JsonObject lastValues = new JsonObject();
            JsonObject allValues = new JsonObject();
            for (Map.Entry<String, List<String>> parameter : query.entrySet()) {
                List<String> values = parameter.getValue();
                lastValues.addProperty(parameter.getKey(), values.get(values.size() - 1));
                allValues.add(parameter.getKey(), strings(values));
            }
            event.add("queryStringParameters", lastValues);
            event.add("multiValueQueryStringParameters", allValues);
        }

        if (body.length == 0) {
            event.add("body", JsonNull.INSTANCE);
            event.addProperty("isBase64Encoded", false);
        } else {
            String text = isTextual(contentType) ? utf8OrNull(body) : null;
            if (text != null) {
                event.addProperty("body", text);
                event.addProperty("isBase64Encoded", false);
            } else {
                event.addProperty("body", Base64.getEncoder().encodeToString(body));
                event.addProperty("isBase64Encoded", true);
            }
        }

        event.add("pathParameters", JsonNull.INSTANCE);
        event.add("stageVariables", JsonNull.INSTANCE);
        JsonObject requestContext = new JsonObject();
        requestContext.addProperty("requestId", requestId);
        requestContext.addProperty("httpMethod", method);
        requestContext.addProperty("path", path);
        event.add("requestContext", requestContext);
        return event;
    }

    private static final Set<String> TEXT_TYPES = Set.of(
            "application/json", "application/xml", "application/javascript",
            "application/x-www-form-urlencoded", "application/graphql", "application/yaml");

    /** text/*, JSON, XML, form and a few more are text; anything else (or no type) is binary. */
    static boolean isTextual(String contentType) {
        if (contentType == null) {
            return false;
        }
        String mime = contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        return mime.startsWith("text/") || TEXT_TYPES.contains(mime)
                || mime.endsWith("+json") || mime.endsWith("+xml");
    }

    static Map<String, List<String>> parseQuery(String rawQuery) {
        Map<String, List<String>> parameters = new LinkedHashMap<>();
        if (rawQuery == null || rawQuery.isEmpty()) {
            return parameters;
        }
        for (String pair : rawQuery.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String name = decode(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            parameters.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return parameters;
    }

    private static String decode(String text) {
        try {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return text;
        }
    }

    private static String utf8OrNull(byte[] body) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static JsonElement strings(List<String> values) {
        JsonArray array = new JsonArray(values.size());
        for (String value : values) {
            array.add(value);
        }
        return array;
    }
}
