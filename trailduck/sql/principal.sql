-- principal_of(identity): who made a call, for people to read: the ARN, else the user name, the principal id or
-- the identity type (userIdentity's fields; the root user and AWS services often have no ARN).
CREATE OR REPLACE MACRO principal_of(identity) AS
    coalesce(identity.arn, identity.userName, identity.principalId, identity.type);
