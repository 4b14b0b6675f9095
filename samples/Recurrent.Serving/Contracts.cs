// The JSON bodies of the service, with source-generated serializers (no reflection: trimming- and NativeAOT-safe).
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Recurrent.Serving;

/// <summary>POST /generate. Missing members take the defaults below (constructor parameters: the source-generated
/// deserializer keeps a parameter's default, where it would reset an init-only property's initializer).</summary>
/// <param name="Prompt">The text to continue (default: a newline).</param>
/// <param name="Length">How many characters to generate (0 to 4096; default 200).</param>
/// <param name="Temperature">Sampling temperature; 0 always takes the most likely character (default 0.8).</param>
/// <param name="TopK">Sample only among the K most likely characters; 0 = all (default).</param>
/// <param name="Seed">Seed of the draw: the same request with the same seed gives the same text (default 1).</param>
public sealed record GenerateRequest(string? Prompt = null, int Length = 200, double Temperature = 0.8, int TopK = 0, ulong Seed = 1);

/// <summary>The answer of POST /generate.</summary>
/// <param name="Prompt">The prompt the text continues.</param>
/// <param name="Text">The generated characters (without the prompt).</param>
/// <param name="Tokens">How many characters were generated.</param>
/// <param name="Seed">The seed used.</param>
public sealed record GenerateResponse(string Prompt, string Text, int Tokens, ulong Seed);

/// <summary>POST /predict: give exactly one of <paramref name="Text"/> and <paramref name="Ids"/>.</summary>
/// <param name="Text">The text so far.</param>
/// <param name="Ids">The token ids so far (vocabulary order, as in the checkpoint's vocab.json).</param>
public sealed record PredictRequest(string? Text = null, long[]? Ids = null);

/// <summary>The answer of POST /predict.</summary>
/// <param name="Argmax">The most likely next id.</param>
/// <param name="Token">Its character.</param>
/// <param name="Probabilities">The next-character distribution, one probability per vocabulary id.</param>
public sealed record PredictResponse(int Argmax, string Token, float[] Probabilities);

/// <summary>The answer of GET /: what is being served.</summary>
public sealed record ModelInfo(string Checkpoint, long Step, string Kind, int VocabSize, int EmbeddingSize, int HiddenSize, int Layers, long Parameters);

/// <summary>The body of a 400 answer.</summary>
/// <param name="Error">What is wrong with the request.</param>
public sealed record ErrorResponse(string Error);

/// <summary>The service's JSON contracts (web defaults: camelCase names).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(GenerateRequest))]
[JsonSerializable(typeof(GenerateResponse))]
[JsonSerializable(typeof(PredictRequest))]
[JsonSerializable(typeof(PredictResponse))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(ErrorResponse))]
public sealed partial class ServingJson : JsonSerializerContext;
