// Recurrent.Serving: a minimal API that serves a character-level model trained by `recurrent train`.
//
//   dotnet run --project samples/Recurrent.Serving -c Release -- --Model:Path runs/shakespeare
//   curl -s localhost:5080/generate -H 'content-type: application/json' -d '{"prompt":"ROMEO:","length":200,"seed":7}'
//   curl -s localhost:5080/predict  -H 'content-type: application/json' -d '{"text":"To be or not to b"}'
//
// The checkpoint is loaded once, at startup, into a singleton; every request reads the same model concurrently.
using Recurrent.Serving;

var builder = WebApplication.CreateSlimBuilder(args);
// A request is a prompt or a text of at most 4,096 characters, or as many ids: 256 KB holds any valid one, where
// Kestrel's default of 30 MB let one request allocate hundreds of megabytes before its length was checked.
builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = CharModelService.MaxRequestBytes);
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ServingJson.Default));
builder.Services.AddSingleton(sp => CharModelService.Load(sp.GetRequiredService<IConfiguration>()["Model:Path"]));

var app = builder.Build();
var model = app.Services.GetRequiredService<CharModelService>();   // load now: a bad path fails at startup, not at the first request
app.Logger.LogInformation("Serving {Kind} model from {Checkpoint} (step {Step}, {Parameters} parameters)",
    model.Info.Kind, model.Info.Checkpoint, model.Info.Step, model.Info.Parameters);

app.MapGet("/", (CharModelService service) => service.Info);

// The handlers are synchronous: the model runs on the request's thread from start to end (NoGrad and dispose
// scopes are per thread and must not cross an await).
app.MapPost("/generate", IResult (GenerateRequest request, CharModelService service) =>
{
    try { return TypedResults.Ok(service.Generate(request)); }
    catch (ArgumentException e) { return TypedResults.BadRequest(new ErrorResponse(e.Message)); }
});

app.MapPost("/predict", IResult (PredictRequest request, CharModelService service) =>
{
    try { return TypedResults.Ok(service.Predict(request)); }
    catch (ArgumentException e) { return TypedResults.BadRequest(new ErrorResponse(e.Message)); }
});

app.Run();

/// <summary>The entry point (public, so that tests can host the app with WebApplicationFactory&lt;Program&gt;).</summary>
public partial class Program;
