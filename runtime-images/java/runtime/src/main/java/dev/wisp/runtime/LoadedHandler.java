package dev.wisp.runtime;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Type;

/**
 * A user's handler, ready to call: the target object (null for a static method), how to call it,
 * and the type its input is mapped to from the event's JSON.
 */
final class LoadedHandler {

    /** The event could not be mapped to the handler's input type (a 400, not a handler error). */
    static final class InputMappingException extends Exception {
        InputMappingException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final String description;
    private final ClassLoader loader;
    private final Object target;
    private final Method method;
    private final Type inputType;
    private final int arity;

    /**
     * @param description the handler as configured, for messages
     * @param loader the function's class loader (the context class loader during calls)
     * @param target the instance, or null for a static method
     * @param method the method to call
     * @param inputType the generic type of its first parameter ({@code Object} if it takes none)
     */
    LoadedHandler(String description, ClassLoader loader, Object target, Method method, Type inputType) {
        this.description = description;
        this.loader = loader;
        this.target = target;
        this.method = method;
        this.inputType = inputType;
        this.arity = method.getParameterCount();
    }

    String description() {
        return description;
    }

    Type inputType() {
        return inputType;
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
        } catch (JsonParseException | IllegalStateException | ClassCastException e) {
            throw new InputMappingException(
                    "the event does not map to " + inputType.getTypeName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Calls the handler on the current thread with the function's class loader as context loader.
     *
     * @throws Throwable whatever the handler threw, unwrapped from reflection
     */
    Object call(Object input, Context context) throws Throwable {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(loader);
        try {
            return switch (arity) {
                case 0 -> method.invoke(target);
                case 1 -> method.invoke(target, input);
                default -> method.invoke(target, input, context);
            };
        } catch (InvocationTargetException e) {
            throw e.getCause();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }
}
