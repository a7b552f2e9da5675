/**
 * AWS Lambda's context types, implemented over wisp's {@link dev.wisp.runtime.Context}, for
 * handlers written against {@code aws-lambda-java-core}.
 *
 * <p>These classes are compiled against aws-lambda-java-core but the runtime does not carry that
 * library: a Lambda function's jar does. So they are never loaded by the runtime's own class
 * loader; {@code AwsBridge} defines them in a small loader whose parent is the function's, where
 * AWS's interfaces resolve to the function's copy. They are plain data (fields and getters, the
 * logger's sink {@code transient}), as AWS's own context is: handlers print them with Gson.
 */
package dev.wisp.runtime.aws;
