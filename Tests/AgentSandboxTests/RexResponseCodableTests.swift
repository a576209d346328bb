import Evaluation
import Foundation
import XCTest
@testable import AgentSandbox

/// The SWE-ReX bodies as Codable structs: the bytes on the wire are those the dictionaries gave
/// before (JSONSerialization with sorted keys, compared here as the reference), optional fields
/// are written as null, and bodies the server refuses get FastAPI's typed 422 answer.
final class RexResponseCodableTests: XCTestCase {
    /// What the server answered before the bodies were Codable.
    private func reference(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    private func wire(_ body: some Encodable, status: Int = 200) -> String {
        let reply = StoredReply(status: status, body: body)
        XCTAssertEqual(reply.status, status)
        return String(decoding: reply.data, as: UTF8.self)
    }

    func testBodiesAreByteCompatibleWithTheDictionariesTheyReplace() throws {
        let output = "line \"one\"\n\ttab \\ back/slash é 中 😀 \u{1}"
        XCTAssertEqual(wire(Observation(output: output, exitCode: nil)),
                       try reference(["output": output, "exit_code": NSNull(), "failure_reason": "", "expect_string": "", "session_type": "bash"]))
        XCTAssertEqual(wire(Observation(output: "", exitCode: 2)),
                       try reference(["output": "", "exit_code": 2, "failure_reason": "", "expect_string": "", "session_type": "bash"]))
        XCTAssertEqual(wire(CreateSessionResponse(output: output)), try reference(["output": output, "session_type": "bash"]))
        XCTAssertEqual(wire(CloseSessionResponse()), try reference(["session_type": "bash"]))
        XCTAssertEqual(wire(CommandResponse(stdout: output, stderr: "err", exitCode: -1)),
                       try reference(["stdout": output, "stderr": "err", "exit_code": -1]))
        XCTAssertEqual(wire(ReadFileResponse(content: output)), try reference(["content": output]))
        XCTAssertEqual(wire(EmptyResponse()), "{}")
        XCTAssertEqual(wire(IsAliveResponse(isAlive: true)), try reference(["is_alive": true, "message": ""]))

        let syntax = RexError.incorrectSyntax(message: "bad syntax", stdout: "o", stderr: "e")
        XCTAssertEqual(wire(syntax.transferBody, status: 511), try reference(["swerexception": [
            "message": "bad syntax", "class_path": "swerex.exceptions.BashIncorrectSyntaxError",
            "traceback": "raised by Forge's sandbox server (swerex.exceptions.BashIncorrectSyntaxError): bad syntax",
            "extra_info": ["bash_stdout": "o", "bash_stderr": "e"]]]))
        XCTAssertEqual(wire(RexError.runtime("x").transferBody, status: 511), try reference(["swerexception": [
            "message": "x", "class_path": "builtins.RuntimeError", "traceback": "raised by Forge's sandbox server (builtins.RuntimeError): x",
            "extra_info": [String: String]()]]))

        let missing = RexHTTPError.invalid("command", "Field required", type: "missing")
        XCTAssertEqual(wire(missing.body, status: 422),
                       try reference(["detail": [["type": "missing", "loc": ["body", "command"], "msg": "Field required"]]]))
        XCTAssertEqual(wire(RexHTTPError.wrongKey.body, status: 401), try reference(["detail": "Invalid API Key"]))
    }

    /// `/forge/submit`: the score's own keys and `model_patch` in one object.
    func testSubmitResponseAddsThePatchToTheScoresKeys() throws {
        let scoreJSON = """
            {"instance_id": "o__r-1", "model_name_or_path": "m", "status": "error", "resolved": false, "reward": null,
             "f2p_passed": 0, "f2p_total": 2, "p2p_passed": 3, "p2p_total": 3, "log_url": "/logs/a/b", "report_url": "/logs/a/r",
             "reason": "r", "error": "infrastructure", "patch_fixes": [], "touches_tests": ["t.py"], "cached": true,
             "patch_key": "k", "test_seconds": 1.5}
            """
        let score = try JSONDecoder().decode(ScoreResponse.self, from: Data(scoreJSON.utf8))
        let patch = "diff --git a/x b/x\n"
        var expected = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(score)) as? [String: Any])
        expected["model_patch"] = patch
        XCTAssertEqual(wire(SubmitResponse(score: score, modelPatch: patch)), try reference(expected))
        XCTAssertTrue(wire(SubmitResponse(score: score, modelPatch: patch)).contains(#""reward":null"#))
    }

    /// Malformed request bodies get FastAPI's 422 with the field at fault; nothing crashes.
    func testMalformedRequestsAreTyped422s() throws {
        func refusal(_ body: String) -> RexHTTPError? {
            do {
                let fields = try RequestFields(Data(body.utf8))
                _ = try ExecuteRequest(fields)
                return nil
            } catch {
                return error // typed: RequestFields and ExecuteRequest throw only RexHTTPError
            }
        }
        XCTAssertEqual(refusal("{\"command\": "), RexHTTPError(status: 422, detail: .validation(
            type: "json_invalid", location: ["body"], message: "JSON decode error: the body is not valid JSON")))
        XCTAssertEqual(refusal("[1, 2]")?.detail, .validation(type: "model_attributes_type", location: ["body"], message: "Input should be a valid dictionary or object"))
        XCTAssertEqual(refusal("{}")?.detail, .validation(type: "missing", location: ["body", "command"], message: "Field required"))
        XCTAssertEqual(refusal(#"{"command": ["ls", 1]}"#)?.detail,
                       .validation(type: "list_type", location: ["body", "command"], message: "Input should be a non-empty list of strings"))
        XCTAssertEqual(refusal(#"{"command": "ls", "timeout": "soon"}"#)?.detail,
                       .validation(type: "float_type", location: ["body", "timeout"], message: "Input should be a valid number"))
        XCTAssertEqual(refusal(#"{"command": "ls", "check": 1}"#)?.detail,
                       .validation(type: "bool_type", location: ["body", "check"], message: "Input should be a valid boolean"))
        XCTAssertNil(refusal(#"{"command": "ls", "timeout": 3, "env": {"A": "b"}, "unknown": [1, {"x": null}]}"#))
        // Every truncation of a valid body is refused with a 422 or read, never a crash.
        let body = #"{"command": ["sh", "-c", "echo \"hi\""], "timeout": 1.5, "env": {"A": "b"}, "cwd": "/testbed"}"#
        for end in body.indices {
            if let error = refusal(String(body[..<end])) { XCTAssertEqual(error.status, 422) }
        }
    }
}
