package dev.wisp.runtime;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An HTTP response about to be sent, and the contract's rules for making one: a handler's result
 * (shaped {@code {statusCode, headers, body, isBase64Encoded}} or any other JSON value) and the
 * JSON error bodies.
 *
 * @param status the HTTP status
 * @param headers response headers (each with one or more values)
 * @param body the response body
 */
record Reply(int status, Map<String, List<String>> headers, byte[] body) {

    static final String JSON_TYPE = "application/json";

    /** A handler's return value that cannot be sent (a 500 InvalidHandlerResponse). */
    static final class InvalidResultException extends Exception {
        InvalidResultException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The reply for a handler's return value. */
    static Reply fromResult(Object result) throws InvalidResultException {
        return fromResult(result, false);
    }

    /**
     * The reply for a handler's return value; with {@code raw} (a call with
     * {@code X-Wisp-Raw-Result: 1}, Lambda's Invoke API) the value itself as 200 JSON, even one
     * shaped like an HTTP response, and a stream handler's bytes as written.
     */
    static Reply fromResult(Object result, boolean raw) throws InvalidResultException {
        if (result instanceof LoadedHandler.StreamOutput output) {
            if (raw) {
                Map<String, List<String>> headers = new LinkedHashMap<>();
                headers.put("Content-Type", List.of(JSON_TYPE));
                return new Reply(200, headers, output.bytes());
            }
            return fromStream(output.bytes());
        }
        JsonElement tree;
        try {
            tree = result instanceof JsonElement element ? element : Json.toTree(result);
        } catch (RuntimeException e) {
            throw new InvalidResultException(
                    "the handler's return value is not JSON serializable: " + e.getMessage(), e);
        }
        if (!raw && isShaped(tree)) {
            return shaped(tree.getAsJsonObject());
        }
        return json(200, Json.toJson(tree));
    }

    /**
     * What a stream handler wrote: JSON shaped as an HTTP response shapes it, as from any other
     * handler (API Gateway reads a stream handler's output the same way); anything else is the
     * body as is, {@code application/json} when it is JSON.
     */
    static Reply fromStream(byte[] bytes) throws InvalidResultException {
        JsonElement tree = null;
        try {
            tree = Json.parse(StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString());
        } catch (IOException e) {
            // Not JSON: sent as it is.
        }
        if (tree != null && isShaped(tree)) {
            return shaped(tree.getAsJsonObject());
        }
        Map<String, List<String>> headers = new LinkedHashMap<>();
        String type = tree != null || bytes.length == 0 ? JSON_TYPE : "application/octet-stream";
        headers.put("Content-Type", List.of(type));
        return new Reply(200, headers, bytes);
    }

    /** A JSON reply with {@code status}. */
    static Reply json(int status, String json) {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        headers.put("Content-Type", List.of(JSON_TYPE));
        return new Reply(status, headers, json.getBytes(StandardCharsets.UTF_8));
    }

    /** The contract's error body: errorType, errorMessage, requestId and, if asked, stackTrace. */
    static Reply error(int status, String errorType, String message, String requestId,
                       List<String> stackTrace) {
        JsonObject body = new JsonObject();
        body.addProperty("errorType", errorType);
        body.addProperty("errorMessage", message == null ? "" : message);
        if (requestId != null) {
            body.addProperty("requestId", requestId);
        }
        if (stackTrace != null) {
            JsonArray frames = new JsonArray(stackTrace.size());
            stackTrace.forEach(frames::add);
            body.add("stackTrace", frames);
        }
        return json(status, Json.toJson(body));
    }

    /** A copy with {@code name: value} added (kept if the handler set it already). */
    Reply withHeader(String name, String value) {
        Map<String, List<String>> copy = new LinkedHashMap<>(headers);
        copy.put(name, List.of(value));
        return new Reply(status, copy, body);
    }

    /** The frames of {@code error} and its causes, one string each. */
    static List<String> stackTrace(Throwable error) {
        List<String> lines = new ArrayList<>();
        Throwable current = error;
        for (int depth = 0; current != null && depth < 8; depth++) {
            if (current != error) {
                lines.add("Caused by: " + current);
            }
            for (StackTraceElement frame : current.getStackTrace()) {
                if (isRuntimeFrame(frame)) {
                    break;
                }
                lines.add(frame.toString());
            }
            current = current.getCause() == current ? null : current.getCause();
        }
        return lines;
    }

    /** Where the handler was called from: frames below it are the runtime's, not the user's. */
    private static boolean isRuntimeFrame(StackTraceElement frame) {
        String cls = frame.getClassName();
        return cls.startsWith("jdk.internal.reflect.") || cls.equals("java.lang.reflect.Method")
                || cls.startsWith(LoadedHandler.class.getName());
    }

    /**
     * A JSON object with an integral statusCode, or one given as a numeric string ({@code "200"},
     * as AWS's own blueprints return it): the handler shapes the HTTP response.
     */
    static boolean isShaped(JsonElement tree) {
        return tree.isJsonObject() && !Double.isNaN(statusCode(tree.getAsJsonObject()));
    }

    /** The integral statusCode of {@code response}, or NaN when it has none. */
    private static double statusCode(JsonObject response) {
        JsonElement status = response.get("statusCode");
        if (status == null || !status.isJsonPrimitive()) {
            return Double.NaN;
        }
        JsonPrimitive primitive = status.getAsJsonPrimitive();
        double code;
        if (primitive.isNumber()) {
            code = primitive.getAsDouble();
        } else if (primitive.isString() && primitive.getAsString().trim().matches("[0-9]{1,9}")) {
            code = Double.parseDouble(primitive.getAsString().trim());
        } else {
            return Double.NaN;
        }
        return code == Math.rint(code) && !Double.isInfinite(code) ? code : Double.NaN;
    }

    private static Reply shaped(JsonObject response) throws InvalidResultException {
        double code = statusCode(response);
        if (code < 100 || code > 599) {
            throw new InvalidResultException("statusCode " + (long) code + " is not an HTTP status", null);
        }
        Map<String, List<String>> headers = new LinkedHashMap<>();
        JsonElement single = response.get("headers");
        if (single != null && single.isJsonObject()) {
            for (Map.Entry<String, JsonElement> header : single.getAsJsonObject().entrySet()) {
                headers.put(header.getKey(), List.of(text(header.getValue())));
            }
        }
        JsonElement multi = response.get("multiValueHeaders");
        if (multi != null && multi.isJsonObject()) {
            for (Map.Entry<String, JsonElement> header : multi.getAsJsonObject().entrySet()) {
                if (header.getValue().isJsonArray()) {
                    List<String> values = new ArrayList<>(headers.getOrDefault(header.getKey(), List.of()));
                    header.getValue().getAsJsonArray().forEach(v -> values.add(text(v)));
                    headers.put(header.getKey(), values);
                }
            }
        }
        JsonElement cookies = response.get("cookies");
        if (cookies != null && cookies.isJsonArray() && !cookies.getAsJsonArray().isEmpty()) {
            // HTTP APIs' response cookies: one Set-Cookie header each.
            List<String> values = new ArrayList<>(headers.getOrDefault("Set-Cookie", List.of()));
            cookies.getAsJsonArray().forEach(c -> values.add(text(c)));
            headers.put("Set-Cookie", values);
        }
        for (Map.Entry<String, List<String>> header : headers.entrySet()) {
            if (!validHeader(header.getKey(), header.getValue())) {
                throw new InvalidResultException(
                        "header " + header.getKey().strip() + " has a name or value HTTP cannot carry", null);
            }
        }
        byte[] bytes = body(response);
        boolean hasType = headers.keySet().stream().anyMatch(n -> n.equalsIgnoreCase("content-type"));
        if (!hasType && bytes.length > 0) {
            headers.put("Content-Type", List.of(JSON_TYPE));
        }
        return new Reply((int) code, headers, bytes);
    }

    /** A header the HTTP server can send: a token name, and values without CR, LF or NUL. */
    private static boolean validHeader(String name, List<String> values) {
        if (name.isEmpty() || !name.chars().allMatch(c -> c > 32 && c < 127 && "()<>@,;:\\\"/[]?={}".indexOf(c) < 0)) {
            return false;
        }
        return values.stream().allMatch(v -> v.chars().noneMatch(c -> c == '\r' || c == '\n' || c == 0));
    }

    /** A string body as is (or base64-decoded when flagged); any other JSON value as JSON. */
    private static byte[] body(JsonObject response) throws InvalidResultException {
        JsonElement body = response.get("body");
        if (body == null || body.isJsonNull()) {
            return new byte[0];
        }
        if (!(body.isJsonPrimitive() && body.getAsJsonPrimitive().isString())) {
            return Json.toJson(body).getBytes(StandardCharsets.UTF_8);
        }
        JsonElement flag = response.get("isBase64Encoded");
        boolean encoded = flag != null && flag.isJsonPrimitive()
                && flag.getAsJsonPrimitive().isBoolean() && flag.getAsBoolean();
        if (!encoded) {
            return body.getAsString().getBytes(StandardCharsets.UTF_8);
        }
        try {
            return Base64.getDecoder().decode(body.getAsString());
        } catch (IllegalArgumentException e) {
            throw new InvalidResultException(
                    "body is flagged isBase64Encoded but is not base64: " + e.getMessage(), e);
        }
    }

    private static String text(JsonElement value) {
        if (value.isJsonPrimitive()) {
            JsonPrimitive primitive = value.getAsJsonPrimitive();
            return primitive.isString() ? primitive.getAsString() : primitive.toString();
        }
        return value.isJsonNull() ? "" : value.toString();
    }
}
