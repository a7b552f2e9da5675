package dev.wisp.runtime.aws;

import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import java.util.Map;

/** AWS's {@link CognitoIdentity}, from the call's {@code X-Wisp-Identity}. */
public final class AwsCognitoIdentity implements CognitoIdentity {

    private final String identityId;
    private final String identityPoolId;

    AwsCognitoIdentity(Map<String, String> identity) {
        this.identityId = identity.get("cognitoIdentityId");
        this.identityPoolId = identity.get("cognitoIdentityPoolId");
    }

    @Override
    public String getIdentityId() {
        return identityId;
    }

    @Override
    public String getIdentityPoolId() {
        return identityPoolId;
    }
}
