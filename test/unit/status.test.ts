// The upstream's task reads, normalised (UPSTREAM.md "What a robust client
// tolerates"): states in every spelling, progress as a number, "NN%" or absent,
// failure reasons, result counts, submit answers and error bodies.
import { describe, expect, it } from "vitest";
import {
  normaliseProgress,
  normaliseState,
  normaliseTask,
  submittedTaskId,
  type TaskSnapshot,
} from "../../src/providers/async/status.js";
import { errorMessageOf } from "../../src/providers/failures.js";

const resultUrl = (i: number) =>
  `https://www.zexitongxue.com/v1/images/tasks/aiimg_xxx/content?index=${i}`;

describe("normaliseState", () => {
  it.each([
    // The states UPSTREAM.md lists; only SUCCESS and FAILURE are final.
    ["SUCCESS", "succeeded"],
    ["FAILURE", "failed"],
    ["NOT_START", "pending"],
    ["SUBMITTED", "pending"],
    ["QUEUED", "pending"],
    ["IN_PROGRESS", "pending"],
    ["UNKNOWN", "pending"],
    // The submit answer's lower case, and case-insensitivity in general.
    ["queued", "pending"],
    ["success", "succeeded"],
    ["Success", "succeeded"],
    ["sUcCeSs", "succeeded"],
    ["failure", "failed"],
    ["Failure", "failed"],
    ["not_start", "pending"],
    ["submitted", "pending"],
    ["in_progress", "pending"],
    ["unknown", "pending"],
    [" SUCCESS ", "succeeded"],
    ["\tfailure\n", "failed"],
    // The spellings of the same family's other services.
    ["SUCCEEDED", "succeeded"],
    ["succeeded", "succeeded"],
    ["FAILED", "failed"],
    ["failed", "failed"],
    // Empty or unknown: still running, never success.
    ["", "pending"],
    ["   ", "pending"],
    ["done", "pending"],
    ["completed", "pending"],
    ["error", "pending"],
    ["SUCCESS!", "pending"],
    ["SUCCESSFUL", "pending"],
  ])("%j → %s", (status, state) => {
    expect(normaliseState(status)).toBe(state);
  });

  it.each([undefined, null, 0, 1, true, {}, [], ["SUCCESS"]])(
    "non-string %j → pending",
    (status) => {
      expect(normaliseState(status)).toBe("pending");
    },
  );
});

describe("normaliseProgress", () => {
  it.each([
    // A number at submit: the submit answer's `1` is 1%.
    [1, 0.01],
    [0, 0],
    [50, 0.5],
    [100, 1],
    [150, 1],
    // A number that is already a fraction.
    [0.45, 0.45],
    [0.5, 0.5],
    // "NN%" on read.
    ["100%", 1],
    ["45%", 0.45],
    ["0%", 0],
    ["1%", 0.01],
    ["12.5%", 0.125],
    ["150%", 1],
    [" 45 % ", 0.45],
    // A bare numeric string is a percentage too.
    ["45", 0.45],
    ["100", 1],
  ])("%j → %s", (progress, fraction) => {
    expect(normaliseProgress(progress)).toBe(fraction);
  });

  it.each([
    undefined,
    null,
    "",
    "   ",
    "%",
    "abc",
    "45%%",
    "-5%",
    "4 5%",
    "1e2",
    -5,
    -0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    {},
    [50],
  ])("%j → undefined", (progress) => {
    expect(normaliseProgress(progress)).toBeUndefined();
  });
});

const running = (progress: number | undefined, rawStatus: string): TaskSnapshot => ({
  state: "pending",
  rawStatus,
  progress,
  resultCount: 0,
  failReason: undefined,
});

describe("normaliseTask: task bodies", () => {
  it.each([
    [
      "the seed's success read",
      {
        code: "success",
        message: "",
        data: {
          task_id: "aiimg_xxx",
          status: "SUCCESS",
          progress: "100%",
          result_url: resultUrl(0),
          data: { data: [{ url: resultUrl(0) }] },
        },
      },
      {
        state: "succeeded",
        rawStatus: "SUCCESS",
        progress: 1,
        resultCount: 1,
        failReason: undefined,
      },
    ],
    [
      "the seed's submit answer",
      { id: "aiimg_xxx", task_id: "aiimg_xxx", status: "queued", progress: 1, data: [] },
      running(0.01, "queued"),
    ],
    [
      "a wrapped task in progress",
      {
        code: "success",
        message: "",
        data: { task_id: "t", status: "IN_PROGRESS", progress: "30%" },
      },
      running(0.3, "IN_PROGRESS"),
    ],
    [
      "a wrapped task not started, progress absent",
      { code: "success", message: "", data: { task_id: "t", status: "NOT_START" } },
      running(undefined, "NOT_START"),
    ],
    [
      "a wrapped task with an empty status",
      { code: "success", message: "", data: { task_id: "t", status: "", progress: "0%" } },
      running(0, ""),
    ],
    ["a bare task with only a task_id", { task_id: "t" }, running(undefined, "")],
    [
      "a task with a non-string status",
      { data: { task_id: "t", status: 3, progress: 10 } },
      running(0.1, ""),
    ],
    [
      "a running task whose entries already exist",
      { data: { task_id: "t", status: "IN_PROGRESS", data: { data: [{ url: resultUrl(0) }] } } },
      running(undefined, "IN_PROGRESS"),
    ],
    [
      "a bare lower-case success with a data list",
      { task_id: "t", status: "success", data: [{ url: resultUrl(0) }, { url: resultUrl(1) }] },
      {
        state: "succeeded",
        rawStatus: "success",
        progress: undefined,
        resultCount: 2,
        failReason: undefined,
      },
    ],
  ] as [string, unknown, TaskSnapshot][])("%s", (_name, body, snapshot) => {
    expect(normaliseTask(body)).toStrictEqual(snapshot);
  });
});

describe("normaliseTask: result count on success", () => {
  const success = (task: Record<string, unknown>) =>
    normaliseTask({
      code: "success",
      message: "",
      data: { task_id: "t", status: "SUCCESS", ...task },
    });

  it.each([
    [
      "three entries in data.data",
      { data: { data: [{}, {}, {}].map((_, i) => ({ url: resultUrl(i) })) } },
      3,
    ],
    ["fewer images than n: one entry", { data: { data: [{ url: resultUrl(0) }] } }, 1],
    ["entries in a data list", { data: [{ url: resultUrl(0) }, { url: resultUrl(1) }] }, 2],
    ["entries win over result_url", { result_url: resultUrl(0), data: { data: [{}, {}] } }, 2],
    ["only result_url", { result_url: resultUrl(0) }, 1],
    ["result_url and an empty list", { result_url: resultUrl(0), data: { data: [] } }, 1],
    [
      "non-object entries are not images",
      { data: { data: [resultUrl(0), null, 3, [], { url: resultUrl(1) }] } },
      1,
    ],
    ["a blank result_url", { result_url: "  " }, 0],
    ["nothing at all", {}, 0],
    ["data.data not a list", { data: { data: { url: resultUrl(0) } } }, 0],
  ])("%s → %i", (_name, task, count) => {
    expect(success(task)?.resultCount).toBe(count);
  });

  it.each([
    ["a result URL", resultUrl(0)],
    ["any text", "ok"],
  ])("fail_reason holding %s on success is not an error", (_name, failReason) => {
    const snapshot = normaliseTask({
      code: "success",
      message: "",
      data: {
        task_id: "t",
        status: "SUCCESS",
        progress: "100%",
        fail_reason: failReason,
        result_url: resultUrl(0),
      },
    });
    expect(snapshot).toStrictEqual({
      state: "succeeded",
      rawStatus: "SUCCESS",
      progress: 1,
      resultCount: 1,
      failReason: undefined,
    });
  });

  it.each(["IN_PROGRESS", "QUEUED", "UNKNOWN", ""])(
    "fail_reason on a %j task is not an error either",
    (status) => {
      const snapshot = normaliseTask({ data: { task_id: "t", status, fail_reason: "boom" } });
      expect(snapshot?.state).toBe("pending");
      expect(snapshot?.failReason).toBeUndefined();
    },
  );
});

describe("normaliseTask: failure reasons", () => {
  it.each([
    [
      "fail_reason first",
      {
        code: "success",
        message: "outer",
        data: { task_id: "t", status: "FAILURE", fail_reason: "content policy", message: "inner" },
      },
      "content policy",
    ],
    [
      "a task the service timed out",
      {
        code: "success",
        message: "",
        data: { task_id: "t", status: "FAILURE", fail_reason: "task timeout" },
      },
      "task timeout",
    ],
    [
      "fail_reason trimmed",
      { data: { task_id: "t", status: "failure", fail_reason: "  upstream overloaded \n" } },
      "upstream overloaded",
    ],
    [
      "the wrapper's message when fail_reason is empty",
      {
        code: "error",
        message: "provider refused",
        data: { task_id: "t", status: "FAILURE", fail_reason: "" },
      },
      "provider refused",
    ],
    [
      "the task's message when fail_reason is blank",
      {
        code: "success",
        message: "",
        data: { task_id: "t", status: "FAILURE", fail_reason: "   ", message: "inner message" },
      },
      "inner message",
    ],
    [
      "the task's error.message",
      {
        code: "success",
        message: "",
        data: { task_id: "t", status: "FAILURE", error: { message: "task error" } },
      },
      "task error",
    ],
    [
      "the wrapper's error.message",
      { error: { message: "outer error" }, data: { task_id: "t", status: "FAILURE" } },
      "outer error",
    ],
    [
      "a bare failed task with a message",
      { task_id: "t", status: "FAILED", message: "bare message" },
      "bare message",
    ],
    [
      "a non-string fail_reason is skipped",
      {
        data: {
          task_id: "t",
          status: "FAILURE",
          fail_reason: { detail: "x" },
          message: "fallback",
        },
      },
      "fallback",
    ],
    [
      "no reason anywhere",
      { code: "success", message: "", data: { task_id: "t", status: "FAILURE" } },
      "the upstream reported FAILURE without a reason",
    ],
  ])("%s", (_name, body, reason) => {
    const snapshot = normaliseTask(body);
    expect(snapshot?.state).toBe("failed");
    expect(snapshot?.failReason).toBe(reason);
    expect(snapshot?.resultCount).toBe(0);
  });

  it("a failed task keeps its raw status and progress", () => {
    expect(
      normaliseTask({
        data: { task_id: "t", status: "Failure", progress: "60%", fail_reason: "x" },
      }),
    ).toStrictEqual({
      state: "failed",
      rawStatus: "Failure",
      progress: 0.6,
      resultCount: 0,
      failReason: "x",
    });
  });
});

describe("normaliseTask: bodies that are not tasks", () => {
  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a string", "SUCCESS"],
    ["a number", 42],
    ["a list", [{ task_id: "t", status: "SUCCESS" }]],
    ["an empty object", {}],
    ["task_not_exist", { code: "task_not_exist", message: "task_not_exist", data: null }],
    [
      "a submit error",
      { error: { message: "bad key", type: "new_api_error", code: "invalid_api_key" } },
    ],
    ["a wrapper around a non-task", { code: "success", message: "", data: { url: resultUrl(0) } }],
  ])("%s → undefined", (_name, body) => {
    expect(normaliseTask(body)).toBeUndefined();
  });
});

describe("submittedTaskId", () => {
  it.each([
    [
      "the seed's submit answer",
      { id: "aiimg_xxx", task_id: "aiimg_xxx", status: "queued" },
      "aiimg_xxx",
    ],
    ["task_id before id", { task_id: "aiimg_a", id: "aiimg_b" }, "aiimg_a"],
    ["id alone", { id: "aiimg_b" }, "aiimg_b"],
    ["id when task_id is empty", { task_id: "", id: "aiimg_c" }, "aiimg_c"],
    ["trimmed", { task_id: "  aiimg_d  " }, "aiimg_d"],
    ["wrapped task_id", { code: "success", data: { task_id: "aiimg_e" } }, "aiimg_e"],
    ["wrapped id", { code: "success", data: { id: "aiimg_f" } }, "aiimg_f"],
    ["outer before wrapped", { id: "aiimg_g", data: { task_id: "aiimg_h" } }, "aiimg_g"],
    ["a non-string task_id falls through to id", { task_id: 7, id: "aiimg_i" }, "aiimg_i"],
  ])("%s → %s", (_name, body, id) => {
    expect(submittedTaskId(body)).toBe(id);
  });

  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a string", "aiimg_xxx"],
    ["a list", [{ task_id: "aiimg_xxx" }]],
    ["an empty object", {}],
    ["blank ids", { task_id: " ", id: "" }],
    ["numeric ids", { task_id: 12, id: 34 }],
    ["ids only inside a data list", { data: [{ task_id: "aiimg_xxx" }] }],
    ["a submit error", { error: { message: "model_not_found", code: "model_not_found" } }],
  ])("%s → undefined", (_name, body) => {
    expect(submittedTaskId(body)).toBeUndefined();
  });
});

describe("errorMessageOf", () => {
  it.each([
    [
      "a new-api submit error",
      {
        error: {
          message: "No available channel",
          type: "new_api_error",
          param: "",
          code: "model_not_found",
        },
      },
      { message: "No available channel", code: "model_not_found" },
    ],
    [
      "task_not_exist",
      { code: "task_not_exist", message: "task_not_exist", data: null },
      { message: "task_not_exist", code: "task_not_exist" },
    ],
    ["error.message only", { error: { message: "quota" } }, { message: "quota" }],
    [
      "error.code only",
      { error: { code: "insufficient_user_quota" } },
      { code: "insufficient_user_quota" },
    ],
    [
      "error before the outer fields",
      { error: { message: "inner", code: "inner_code" }, message: "outer", code: "outer_code" },
      { message: "inner", code: "inner_code" },
    ],
    [
      "the outer fields when error's are blank",
      { error: { message: " ", code: "" }, message: "outer", code: "outer_code" },
      { message: "outer", code: "outer_code" },
    ],
    [
      "the outer fields when error is not an object",
      { error: "boom", message: "outer" },
      { message: "outer" },
    ],
    ["non-string values", { error: { message: 5, code: 429 } }, {}],
    ["trimmed", { message: "  spaced  " }, { message: "spaced" }],
    ["an empty object", {}, {}],
    ["null", null, {}],
    ["undefined", undefined, {}],
    ["a string", "Bad Gateway", {}],
    ["a list", [{ message: "x" }], {}],
  ])("%s", (_name, body, expected) => {
    expect(errorMessageOf(body)).toStrictEqual(expected);
  });
});

describe("regressions", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])(
    "an unknown state named like an Object.prototype member (%s) is still running",
    (state) => {
      expect(normaliseState(state)).toBe("pending");
    },
  );

  it.each([
    ["0.5%", 0.005],
    ["99.5%", 0.995],
    ["0.5", 0.5],
  ])("a %% sign always means percent: %j → %d", (given, expected) => {
    expect(normaliseProgress(given)).toBeCloseTo(expected, 10);
  });
});
