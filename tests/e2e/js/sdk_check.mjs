// A second real client (AWS SDK for JavaScript v3): every x-amz-* header it sends must be
// signed the way kmsnap requires (docs/security.md, "Signed headers"). Prints one JSON line.
// Usage: node sdk_check.mjs ENDPOINT ACCOUNT REGION
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { EBSClient, StartSnapshotCommand, PutSnapshotBlockCommand, CompleteSnapshotCommand,
         ListSnapshotBlocksCommand, GetSnapshotBlockCommand } from "@aws-sdk/client-ebs";
import { createHash, randomBytes } from "node:crypto";

const [endpoint, account, region] = process.argv.slice(2);
const config = { endpoint, region, credentials: { accessKeyId: account, secretAccessKey: "test" }, maxAttempts: 1 };
const kms = new KMSClient(config);
const ebs = new EBSClient(config);

const { KeyId: key, Arn: keyArn } = (await kms.send(new CreateKeyCommand({ Description: "js sdk" }))).KeyMetadata;
const plaintext = new TextEncoder().encode("hello from javascript");
const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: key, Plaintext: plaintext, EncryptionContext: { app: "js" } }));
const back = (await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { app: "js" } }))).Plaintext;
const state = (await kms.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata.KeyState;

const snap = (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true, KmsKeyArn: keyArn }))).SnapshotId;
const block = randomBytes(524288);
const checksum = createHash("sha256").update(block).digest("base64");
await ebs.send(new PutSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: 3, BlockData: block, DataLength: block.length,
                                             Checksum: checksum, ChecksumAlgorithm: "SHA256" }));
await ebs.send(new CompleteSnapshotCommand({ SnapshotId: snap, ChangedBlocksCount: 1 }));
const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snap }));
const got = await ebs.send(new GetSnapshotBlockCommand({ SnapshotId: snap, BlockIndex: 3, BlockToken: listed.Blocks[0].BlockToken }));
const data = Buffer.from(await got.BlockData.transformToByteArray());

console.log(JSON.stringify({
  decrypted: Buffer.from(back).toString() === "hello from javascript",
  keyState: state,
  blocks: listed.Blocks.map((b) => b.BlockIndex),
  blockRoundTrip: data.equals(block),
}));
