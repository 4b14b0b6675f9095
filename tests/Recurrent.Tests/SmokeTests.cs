namespace Recurrent.Tests;

public class SmokeTests
{
    [Fact]
    public void LibraryAssemblyLoads() => Assert.Equal("Recurrent", typeof(Recurrent.DType).Assembly.GetName().Name);
}
