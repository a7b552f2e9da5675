package dev.wisp.runtime.aws;

import com.amazonaws.services.lambda.runtime.Client;
import java.util.Map;

/**
 * AWS's {@link Client}: the calling app, from the client context's {@code client} object (keys as
 * the AWS Mobile SDKs send them, {@code installation_id}, ..., or in camel case).
 */
public final class AwsClient implements Client {

    private final String installationId;
    private final String appTitle;
    private final String appVersionName;
    private final String appVersionCode;
    private final String appPackageName;

    AwsClient(Map<?, ?> json) {
        this.installationId = field(json, "installation_id", "installationId");
        this.appTitle = field(json, "app_title", "appTitle");
        this.appVersionName = field(json, "app_version_name", "appVersionName");
        this.appVersionCode = field(json, "app_version_code", "appVersionCode");
        this.appPackageName = field(json, "app_package_name", "appPackageName");
    }

    private static String field(Map<?, ?> json, String snake, String camel) {
        Object value = json.containsKey(snake) ? json.get(snake) : json.get(camel);
        return value == null ? null : String.valueOf(value);
    }

    @Override
    public String getInstallationId() {
        return installationId;
    }

    @Override
    public String getAppTitle() {
        return appTitle;
    }

    @Override
    public String getAppVersionName() {
        return appVersionName;
    }

    @Override
    public String getAppVersionCode() {
        return appVersionCode;
    }

    @Override
    public String getAppPackageName() {
        return appPackageName;
    }
}
