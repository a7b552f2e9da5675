package dev.wisp.runtime;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Type;

/**
 * A user's handler, ready to call: the target object (null for a static method), how to call it
 * (an input or Lambda's streams, with wisp's Context, AWS's or none), and the type its input is
 * mapped to from the event's JSON.
 */
final class LoadedHandler {

    /** The event could not be mapped to the handler's input type (a 400, not a handler error). */
    static final class InputMappingException extends Exception {
        InputMappingException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Which context a handler takes last, if any. */
    enum ContextKind { NONE, WISP, AWS }

    /**
     * A handler method's shape.
     *
     * @param streams {@code (InputStream, OutputStream[, Context])}: the event's bytes in, the
     *     response's bytes out (Lambda's {@code RequestStreamHandler})
     * @param context the context parameter it ends with
     */
    record Signature(boolean streams, ContextKind context) {}

    /** What a stream handler wrote: the response body as is. */
    record StreamOutput(byte[] bytes) {}

    private final String description;
    private final ClassLoader loader;
    private final Object target;
    private final Method method;
    private final Type inputType;
    private final int arity;
    private final Signature signature;
    private final AwsBridge aws;

    /**
     * @param description the handler as configured, for messages
     * @param loader the function's class loader (the context class loader during calls)
     * @param target the instance, or null for a static method
     * @param method the method to call
     * @param inputType the generic type of its first parameter ({@code Object} if it takes none)
     * @param signature its shape
     * @param aws makes AWS's Context, when the handler takes one (else null)
     */
    LoadedHandler(String description, ClassLoader loader, Object target, Method method, Type inputType,
                  Signature signature, AwsBridge aws) {
        this.description = description;
        this.loader = loader;
        this.target = target;
        this.method = method;
        this.inputType = inputType;
        this.arity = method.getParameterCount();
        this.signature = signature;
        this.aws = aws;
    }

    String description() {
        return description;
    }

    Type inputType() {
        return inputType;
    }

    /** Whether the handler takes the event's bytes and writes its response's. */
    boolean streams() {
        return signature.streams();
    }

    /** Maps {@code event} to the input type; a JSON string given to a String handler is unquoted. */
    Object mapInput(JsonElement event) throws InputMappingException {
        if (inputType == String.class) {
            if (event.isJsonPrimitive() && event.getAsJsonPrimitive().isString()) {
                return event.getAsString();
            }
            return event.toString();
        }
        if (inputType == JsonElement.class) {
            return event;
        }
        try {
            return Json.convert(event, inputType);
        } catch (JsonParseException | IllegalStateException | ClassCastException | IllegalArgumentException e) {
            throw new InputMappingException(
                    "the event does not map to " + inputType.getTypeName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Calls the handler on the current thread with the function's class loader as context loader.
     * {@code input} is the mapped event, or for a stream handler the event's bytes; a stream
     * handler's result is a {@link StreamOutput}.
     *
     * @throws Throwable whatever the handler threw, unwrapped from reflection
     */
    Object call(Object input, Context context) throws Throwable {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(loader);
        try {
            Object handlerContext = switch (signature.context()) {
                case NONE -> null;
                case WISP -> context;
                case AWS -> aws.context(context);
            };
            if (signature.streams()) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                ByteArrayInputStream in = new ByteArrayInputStream((byte[]) input);
                if (arity == 2) {
                    method.invoke(target, in, out);
                } else {
                    method.invoke(target, in, out, handlerContext);
                }
                return new StreamOutput(out.toByteArray());
            }
            return switch (arity) {
                case 0 -> method.invoke(target);
                case 1 -> method.invoke(target, input);
                default -> method.invoke(target, input, handlerContext);
            };
        } catch (InvocationTargetException e) {
            throw e.getCause();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }
}
